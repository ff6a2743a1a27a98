package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/lambent/lambent/internal/lambenttest"
)

// TestListFunctions runs on a server of its own: it counts every function there is.
func TestListFunctions(t *testing.T) {
	t.Parallel()
	s := lambenttest.Start(t)
	c, ctx, zip := s.Client(), context.Background(), lambenttest.Function(t, "probe")
	var all []string
	for i := range 7 {
		name := fmt.Sprintf("listed-%d", i)
		s.CreateFunction(t, name, zip)
		all = append(all, name)
	}

	t.Run("MaxItems and Marker", func(t *testing.T) {
		var pages [][]string
		var marker *string
		for range 10 {
			out, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{MaxItems: aws.Int32(3), Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, names(out.Functions))
			if marker = out.NextMarker; marker == nil {
				break
			}
		}
		want := [][]string{all[0:3], all[3:6], all[6:7]}
		if fmt.Sprint(pages) != fmt.Sprint(want) {
			t.Errorf("pages %v, want %v", pages, want)
		}
	})

	t.Run("paginator", func(t *testing.T) {
		var got []string
		p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{}, func(o *lambda.ListFunctionsPaginatorOptions) { o.Limit = 2 })
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Functions) > 2 {
				t.Errorf("page of %d functions, want at most 2", len(out.Functions))
			}
			got = append(got, names(out.Functions)...)
		}
		if !slices.Equal(got, all) {
			t.Errorf("paginated %v, want %v", got, all)
		}
	})

	t.Run("without and with trailing slash", func(t *testing.T) {
		for _, path := range []string{"/2015-03-31/functions", "/2015-03-31/functions/", "/2015-03-31/functions/?MaxItems=50"} {
			r := rawCall(t, s, "GET", path, nil)
			var out struct {
				Functions []struct {
					FunctionName string
					State        *string
				}
				NextMarker *string
			}
			if err := json.Unmarshal(r.Body, &out); r.Status != 200 || err != nil {
				t.Fatalf("GET %s: %d %s (%v)", path, r.Status, r.Body, err)
			}
			var got []string
			for _, f := range out.Functions {
				got = append(got, f.FunctionName)
				if f.State != nil {
					t.Errorf("GET %s: %s has State %q; ListFunctions leaves State out, as AWS does", path, f.FunctionName, *f.State)
				}
			}
			if !slices.Equal(got, all) || out.NextMarker != nil {
				t.Errorf("GET %s: %v, NextMarker %v; want %v and none", path, got, out.NextMarker, all)
			}
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		tests := []struct {
			in   *lambda.ListFunctionsInput
			code string
		}{
			{&lambda.ListFunctionsInput{MaxItems: aws.Int32(0)}, "ValidationException"},
			{&lambda.ListFunctionsInput{MaxItems: aws.Int32(10001)}, "ValidationException"},
			{&lambda.ListFunctionsInput{FunctionVersion: "LATEST"}, "ValidationException"},
			{&lambda.ListFunctionsInput{Marker: aws.String("%%% not a marker")}, "InvalidParameterValueException"},
		}
		for _, tt := range tests {
			_, err := c.ListFunctions(ctx, tt.in)
			wantError(t, err, tt.code, 400)
		}
	})

	t.Run("GetAccountSettings", func(t *testing.T) {
		out, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
		if err != nil {
			t.Fatal(err)
		}
		u := out.AccountUsage
		if got, want := [2]int64{u.FunctionCount, u.TotalCodeSize}, [2]int64{7, 7 * int64(len(zip))}; got != want {
			t.Errorf("AccountUsage function count, total code size = %v, want %v", got, want)
		}
		l := out.AccountLimit
		gotLimits := [5]int64{l.CodeSizeZipped, l.CodeSizeUnzipped, l.TotalCodeSize, int64(l.ConcurrentExecutions), int64(aws.ToInt32(l.UnreservedConcurrentExecutions))}
		if wantLimits := [5]int64{52428800, 262144000, 80530636800, 1000, 1000}; gotLimits != wantLimits {
			t.Errorf("AccountLimit zipped, unzipped, total, concurrency, unreserved = %v, want AWS's defaults %v", gotLimits, wantLimits)
		}
		for _, path := range []string{"/2016-08-19/account-settings", "/2016-08-19/account-settings/"} {
			if r := rawCall(t, s, "GET", path, nil); r.Status != 200 {
				t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
			}
		}
	})
}

func names(fs []types.FunctionConfiguration) []string {
	var out []string
	for _, f := range fs {
		out = append(out, aws.ToString(f.FunctionName))
	}
	return out
}
