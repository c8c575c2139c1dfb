# syntax=docker/dockerfile:1
# Two images from one build: the composer (default) and the demo fragments.
#   docker build -t composer .
#   docker build -t composer-fragments --target fragments .
# Static binaries (CGO off, -trimpath) on distroless static, non-root. The
# runtime image carries CA certificates and tzdata and nothing else.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/composer ./composer && \
    go build -trimpath -ldflags="-s -w" -o /out/fragments ./fragments/cmd/fragments

FROM gcr.io/distroless/static-debian12:nonroot AS fragments
COPY --from=build /out/fragments /fragments
USER nonroot:nonroot
EXPOSE 9000 9001 9002 9003 9004 9005 9006
ENTRYPOINT ["/fragments"]

FROM gcr.io/distroless/static-debian12:nonroot AS composer
COPY --from=build /out/composer /composer
# The demo templates, for `composer publish` in the compose stack's seeding.
COPY --from=build /src/templates /templates
COPY --from=build /src/deploy/compose-registry.json /deploy/compose-registry.json
USER nonroot:nonroot
# Outside a container the demo answers on loopback only; here on every
# interface, for docker run -p 8080:8080. The admin listener (metrics,
# pprof) stays on the container's loopback unless COMPOSER_ADMIN_ADDR says.
ENV COMPOSER_ADDR=:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s --retries=3 CMD ["/composer", "healthcheck"]
ENTRYPOINT ["/composer"]
