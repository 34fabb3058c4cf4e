module github.com/guardkit/guard/openapi/huma

go 1.26.0

require github.com/guardkit/guard v0.0.0

require (
	github.com/danielgtaylor/huma/v2 v2.40.0
	github.com/go-json-experiment/json v1.27.2 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/rs/cors v1.11.1 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/guardkit/guard => ../..
