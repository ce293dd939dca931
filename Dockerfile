# eastwatch: the CLI today; the API and workers join in docker-compose.yml as they land.
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
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/samples ./samples
RUN ln -s /app/bin/eastwatch.js /usr/local/bin/eastwatch
USER node
ENTRYPOINT ["eastwatch"]
CMD ["--help"]
