package controlapi

import "github.com/lambent/lambent/internal/function"

// configuration is Lambda's FunctionConfiguration.
type configuration struct {
	Architectures              []string         `json:"Architectures"`
	CodeSha256                 string           `json:"CodeSha256"`
	CodeSize                   int64            `json:"CodeSize"`
	Description                string           `json:"Description"`
	Environment                *environment     `json:"Environment,omitempty"`
	EphemeralStorage           ephemeralStorage `json:"EphemeralStorage"`
	FunctionArn                string           `json:"FunctionArn"`
	FunctionName               string           `json:"FunctionName"`
	Handler                    string           `json:"Handler"`
	LastModified               string           `json:"LastModified"`
	LastUpdateStatus           string           `json:"LastUpdateStatus,omitempty"`
	LastUpdateStatusReason     string           `json:"LastUpdateStatusReason,omitempty"`
	LastUpdateStatusReasonCode string           `json:"LastUpdateStatusReasonCode,omitempty"`
	Layers                     []layerReference `json:"Layers,omitempty"`
	LoggingConfig              loggingConfig    `json:"LoggingConfig"`
	MemorySize                 int              `json:"MemorySize"`
	PackageType                string           `json:"PackageType"`
	RevisionId                 string           `json:"RevisionId"`
	Role                       string           `json:"Role"`
	Runtime                    string           `json:"Runtime"`
	RuntimeVersionConfig       *runtimeVersion  `json:"RuntimeVersionConfig,omitempty"`
	SnapStart                  snapStart        `json:"SnapStart"`
	State                      string           `json:"State,omitempty"`
	StateReason                string           `json:"StateReason,omitempty"`
	StateReasonCode            string           `json:"StateReasonCode,omitempty"`
	Timeout                    int              `json:"Timeout"`
	TracingConfig              tracingConfig    `json:"TracingConfig"`
	Version                    string           `json:"Version"`
}

type environment struct {
	Variables map[string]string `json:"Variables"`
}
type ephemeralStorage struct {
	Size int `json:"Size"`
}
type loggingConfig struct {
	LogFormat string `json:"LogFormat"`
	LogGroup  string `json:"LogGroup"`
}
type runtimeVersion struct {
	RuntimeVersionArn string `json:"RuntimeVersionArn"`
}
type snapStart struct {
	ApplyOn            string `json:"ApplyOn"`
	OptimizationStatus string `json:"OptimizationStatus"`
}
type tracingConfig struct {
	Mode string `json:"Mode"`
}

// lambdaTime is Lambda's LastModified format.
const lambdaTime = "2006-01-02T15:04:05.000-0700"

// toConfiguration renders f; listed omits the fields ListFunctions does not return.
func (a *API) toConfiguration(f *function.Function, listed bool) configuration {
	env := f.Environment
	if env == nil {
		env = map[string]string{}
	}
	c := configuration{
		Architectures:    f.Architectures,
		CodeSha256:       f.CodeSha256,
		CodeSize:         f.CodeSize,
		Description:      f.Description,
		Environment:      &environment{Variables: env},
		EphemeralStorage: ephemeralStorage{Size: f.EphemeralStorage},
		FunctionArn:      a.ARNs.Function(f.Name),
		FunctionName:     f.Name,
		Handler:          f.Handler,
		LastModified:     f.LastModified.UTC().Format(lambdaTime),
		LoggingConfig:    loggingConfig{LogFormat: "Text", LogGroup: "/aws/lambda/" + f.Name},
		MemorySize:       f.MemorySize,
		PackageType:      "Zip",
		RevisionId:       f.RevisionID(),
		Role:             f.Role,
		Runtime:          f.Runtime,
		SnapStart:        snapStart{ApplyOn: "None", OptimizationStatus: "Off"},
		Timeout:          f.Timeout,
		TracingConfig:    tracingConfig{Mode: "PassThrough"},
		Version:          function.LatestVersion,
	}
	for _, l := range f.Layers {
		c.Layers = append(c.Layers, layerReference{Arn: l.Arn, CodeSize: l.CodeSize})
	}
	if !listed {
		c.State, c.StateReason, c.StateReasonCode = f.State, f.StateReason, f.StateReasonCode
		c.LastUpdateStatus = f.LastUpdateStatus
		c.LastUpdateStatusReason = f.LastUpdateStatusReason
		c.LastUpdateStatusReasonCode = f.LastUpdateStatusReasonCode
		c.RuntimeVersionConfig = &runtimeVersion{RuntimeVersionArn: "arn:aws:lambda:" + a.ARNs.Region + "::runtime:" + runtimeVersionID(f.Runtime)}
	}
	return c
}

func runtimeVersionID(runtime string) string {
	// A stable id per runtime; Lambent has one version of each.
	return "lambent-" + runtime
}
