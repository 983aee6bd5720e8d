# mstream image for docker-compose.yml: the engine (mstream) and the producer
# side (producer, ms_tracegen, ms_feeder), built on Debian 12 from this
# repository with the Debian packages dev.sh names.
#
#   docker build -t mstream:local .
#   docker run --rm mstream:local mstream --help
#
# Stage 1 builds with exactly dev.sh's PKGS (without the tests: no cmocka
# targets are built, MS_BUILD_TESTS=OFF).  Stage 2 carries the shared
# libraries of those -dev packages, curl for the health checks, the binaries
# and the query files (share/mstream/queries, found by --query NAME) and the
# docs (share/doc/mstream), all laid out by `cmake --install` (docs/install.md).
#
# No HEALTHCHECK here: the image also runs one-shot and helper tools
# (ms_tracegen, producer, ms_feeder), which must not inherit the engine's
# check.  docker-compose.yml gives the engines theirs; with plain docker run:
#   docker run --health-cmd 'curl -fsS http://127.0.0.1:4040/readyz' ... mstream:local mstream ...
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      librdkafka-dev librocksdb-dev libmicrohttpd-dev libcmocka-dev zlib1g-dev libxxhash-dev \
      python3 curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMS_BUILD_TESTS=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr/local \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 librocksdb7.8 libmicrohttpd12 zlib1g libxxhash0 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/mstream --uid 10001 mstream \
 && mkdir -p /data/trace /data/stream_in && chown -R mstream:mstream /data
COPY --from=build /usr/local/bin/ /usr/local/bin/
COPY --from=build /usr/local/share/mstream/ /usr/local/share/mstream/
COPY --from=build /usr/local/share/doc/mstream/ /usr/local/share/doc/mstream/
USER mstream
WORKDIR /var/lib/mstream
EXPOSE 4040
CMD ["mstream", "--help"]
