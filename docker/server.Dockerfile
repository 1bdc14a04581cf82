# The TeleCoder server. It talks to the host's Docker engine (mount /var/run/docker.sock) to run
# sandboxes; the sandboxes themselves never see that socket.
ARG NODE_IMAGE=node:22-bookworm-slim
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bench ./bench
# The benchmark reuses a few test helpers and webhook fixtures; tsc compiles them with it.
COPY test/helpers ./test/helpers
COPY test/fixtures ./test/fixtures
COPY bin ./bin
COPY sandbox ./sandbox
COPY app.yml ./
RUN npm ci --no-audit --no-fund && npm prune --omit=dev
ENV TELECODER_DATA_DIR=/data TELECODER_ADDR=0.0.0.0:7080
VOLUME /data
EXPOSE 7080
CMD ["node", "bin/telecoder.js", "serve"]
