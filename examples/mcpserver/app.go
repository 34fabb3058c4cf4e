package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/guardkit/guard"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// app is the server: its handler, the issuer's key set it reads (started),
// and the URL of its protected-resource metadata.
type app struct {
	handler     http.Handler
	keys        *guard.RemoteKeySet
	metadataURL string
}

func (a *app) close() { _ = a.keys.Close() }

// replayEntries bounds the DPoP proofs remembered against replay: one per
// request within a proof's lifetime.
const replayEntries = 100_000

func newApp(cfg config) (*app, error) {
	keys, err := guard.NewRemoteKeySet(guard.RemoteKeySetConfig{Issuer: cfg.issuer, Logger: cfg.log})
	if err != nil {
		return nil, err
	}
	metadataURL, err := guard.ProtectedResourceMetadataURL(cfg.resource)
	if err != nil {
		return nil, err
	}
	// Proofs name the URL the client called: this server's public origin,
	// the one of its resource identifier.
	res, _ := url.Parse(cfg.resource) // checked by configFromEnv
	dpop, err := guard.NewDPoP(guard.DPoPConfig{
		Replay:  guard.NewMemoryReplayCache(replayEntries),
		BaseURL: res.Scheme + "://" + res.Host,
	})
	if err != nil {
		return nil, err
	}
	verifier, err := guard.NewVerifier(guard.VerifierConfig{
		KeySource: keys,
		Issuers:   []string{cfg.issuer},
		// The token must have been issued for this server (RFC 8707), not
		// for another resource of the same authorization server.
		Audiences:        []string{cfg.resource},
		DPoP:             dpop,
		ResourceMetadata: metadataURL,
	})
	if err != nil {
		return nil, err
	}
	metadata, err := guard.ProtectedResourceMetadata(guard.ProtectedResourceConfig{
		Resource:                      cfg.resource,
		AuthorizationServers:          []string{cfg.issuer},
		DPoPSigningAlgValuesSupported: dpop.AlgorithmNames(),
		ResourceName:                  "guard MCP example",
	})
	if err != nil {
		return nil, err
	}
	server := newMCPServer()
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Logger: cfg.log})

	mux := http.NewServeMux()
	mux.Handle("/mcp", verifier.RequireBearer(withTokenInfo(mcpHandler)))
	// RFC 9728 §3.1: the metadata of https://h/mcp is at
	// https://h/.well-known/oauth-protected-resource/mcp. Clients that look
	// at the root first find the same document there.
	mu, _ := url.Parse(metadataURL)
	mux.Handle("GET "+mu.Path, metadata)
	if mu.Path != rootMetadataPath {
		mux.Handle("GET "+rootMetadataPath, metadata)
	}
	keys.Start()
	return &app{handler: mux, keys: keys, metadataURL: metadataURL}, nil
}

const rootMetadataPath = "/.well-known/oauth-protected-resource"

// whoami is what the tool answers.
type whoami struct {
	Subject string   `json:"subject" jsonschema:"the caller, the access token's sub"`
	Scopes  []string `json:"scopes" jsonschema:"the scopes the access token grants"`
}

func newMCPServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "guard-mcp-example", Version: "1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{
		Name:        "whoami",
		Description: "Answers who the caller is: the subject and scopes of the access token the request came with.",
	}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoami, error) {
		info := req.Extra.TokenInfo
		if info == nil { // not reached: every request to /mcp passed guard
			return nil, whoami{}, guard.ErrNoCredentials
		}
		out := whoami{Subject: info.UserID, Scopes: info.Scopes}
		if out.Scopes == nil {
			out.Scopes = []string{}
		}
		text := out.Subject
		if len(out.Scopes) > 0 {
			text += " (scopes: " + strings.Join(out.Scopes, " ") + ")"
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, out, nil
	})
	return server
}

// withTokenInfo hands the principal guard authenticated to the MCP SDK,
// which ties each session to its user (a session answers only the subject
// that opened it) and gives tools the caller as req.Extra.TokenInfo. The SDK
// takes it only through its own bearer middleware, which reads the Bearer
// scheme: guard has already checked the token and any DPoP proof, so that
// middleware is given the token under that scheme and takes guard's answer.
func withTokenInfo(next http.Handler) http.Handler {
	sdk := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		p, ok := guard.PrincipalFrom(ctx)
		if !ok || p.Claims == nil {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: p.Subject, Scopes: p.Scopes, Expiration: p.Claims.ExpiresAt}, nil
	}, nil)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && !strings.EqualFold(scheme, "Bearer") {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+token)
		}
		sdk.ServeHTTP(w, r)
	})
}
