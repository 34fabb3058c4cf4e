package guardogen

// The ogen server of the tests' small API, testdata/openapi.json.
//go:generate go run github.com/ogen-go/ogen/cmd/ogen@v1.25.0 --target internal/testapi --package testapi --clean testdata/openapi.json
