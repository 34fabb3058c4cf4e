module github.com/guardkit/guard

go 1.26.0

require (
	github.com/go-json-experiment/json v1.27.2 // indirect
	github.com/rs/cors v1.11.1 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
