# eastwatch: the CLI, the API server (`serve`, with the UI) and the workers (`worker`).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY parsers ./parsers
COPY detectors ./detectors
COPY samples ./samples
COPY bench ./bench
COPY test ./test
COPY bin ./bin
RUN npm ci --no-audit --no-fund && npm run build:ui && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/samples ./samples
# tcpdump is the capture engine of `eastwatch capture` (the agent in deploy/agent).
RUN apt-get update && apt-get install -y --no-install-recommends tcpdump && rm -rf /var/lib/apt/lists/*
RUN ln -s /app/bin/eastwatch.js /usr/local/bin/eastwatch && mkdir -p /data && chown node:node /data
USER node
ENV EASTWATCH_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["eastwatch"]
CMD ["--help"]
