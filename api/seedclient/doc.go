// Package seedclient is a client of the BibiGPT seed contract
// (testdata/bibigpt-openapi.yaml, POST /api/v1/chat/completions)
// generated with oapi-codegen, for tests only: it proves that what the
// API sends under /api/v1 decodes as the seed's clients expect (see
// app's TestSeedClient). Nothing else imports it.
package seedclient

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.9.0 -generate types,client -package seedclient -o client.gen.go testdata/bibigpt-openapi.yaml
