package integration

import (
	"context"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/lambent/lambent/internal/lambenttest"
)

// TestFunctionNamesAndQualifiers: every operation takes a name, a full ARN or a partial ARN,
// with or without a qualifier; only $LATEST exists.
func TestFunctionNamesAndQualifiers(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx := s.Client(), context.Background()
	s.CreateFunction(t, "named", lambenttest.Function(t, "probe"))
	ops := map[string]func(name string, qualifier *string) error{
		"GetFunction": func(n string, q *string) error {
			_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &n, Qualifier: q})
			return err
		},
		"GetFunctionConfiguration": func(n string, q *string) error {
			_, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: &n, Qualifier: q})
			return err
		},
		"Invoke": func(n string, q *string) error {
			_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: &n, Qualifier: q, Payload: []byte(`{}`)})
			return err
		},
	}
	ok := errorCase{}
	accessDenied := errorCase{"AccessDeniedException", 403, nil}
	tests := []struct {
		name, functionName string
		qualifier          *string
		want               errorCase
	}{
		{"name", "named", nil, ok},
		{"full ARN", arnPrefix + "named", nil, ok},
		{"partial ARN", "000000000000:function:named", nil, ok},
		{"Qualifier $LATEST", "named", aws.String("$LATEST"), ok},
		{"name:$LATEST", "named:$LATEST", nil, ok},
		{"ARN:$LATEST", arnPrefix + "named:$LATEST", nil, ok},
		{"partial ARN:$LATEST and Qualifier $LATEST", "000000000000:function:named:$LATEST", aws.String("$LATEST"), ok},
		{"Qualifier 1", "named", aws.String("1"), notFound},
		{"Qualifier alias", "named", aws.String("prod"), notFound},
		{"name:1", "named:1", nil, notFound},
		{"ARN:prod", arnPrefix + "named:prod", nil, notFound},
		{"qualifiers disagree", "named:1", aws.String("2"), invalidValue},
		{"unknown name", "unnamed", nil, notFound},
		{"unknown ARN", arnPrefix + "unnamed", nil, notFound},
		{"ARN of another region", "arn:aws:lambda:eu-west-1:000000000000:function:named", nil, notFound},
		{"ARN of another account", "arn:aws:lambda:us-east-1:111111111111:function:named", nil, accessDenied},
		{"invalid name", "named!", nil, validation},
	}
	for _, tt := range tests {
		for op, call := range ops {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				err := call(tt.functionName, tt.qualifier)
				if tt.want.code == "" {
					if err != nil {
						t.Errorf("%s(%q, %v): %v", op, tt.functionName, aws.ToString(tt.qualifier), err)
					}
					return
				}
				tt.want.check(t, err)
			})
		}
	}

	t.Run("DeleteFunction of $LATEST", func(t *testing.T) {
		_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("named"), Qualifier: aws.String("$LATEST")})
		invalidValue.check(t, err)
		r := rawCall(t, s, "DELETE", "/2015-03-31/functions/"+url.PathEscape("named:$LATEST"), nil)
		if r.Status != 400 {
			t.Errorf("DELETE named:$LATEST: %d %s, want 400", r.Status, r.Body)
		}
	})

	t.Run("UpdateFunctionConfiguration and DeleteFunction by ARN", func(t *testing.T) {
		_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(arnPrefix + "named"), Description: aws.String("by ARN"),
		})
		if err != nil {
			t.Fatal(err)
		}
		waitUpdated(t, c, "named")
		if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("000000000000:function:named")}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("named")})
		notFound.check(t, err)
	})
}
