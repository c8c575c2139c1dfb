module github.com/ssr-mfe/composer

go 1.26.0

require golang.org/x/net v0.62.0

require (
	github.com/go-chi/chi/v5 v5.5.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
)
