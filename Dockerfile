# wganx on the CPU: `wganx serve` over the bundled models by default; any wganx command otherwise.
#   docker build -t wganx .
#   docker run --rm -p 8080:8080 wganx
#   docker run --rm -v "$PWD/data:/data" wganx augment --model models/mnist-cgan --per-class 100 --out /data/digits
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src src
# `npm ci` builds dist/ (the prepare script); onnxruntime-node's CPU provider is in the package.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY models models
USER node
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--models", "models", "--default-model", "mnist-dcgan", "--port", "8080", "--device", "cpu"]
