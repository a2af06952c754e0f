# wganx on the CPU: `wganx serve` over the bundled models by default; any wganx command otherwise.
#   docker build -t wganx .
#   docker run --rm -p 8080:8080 wganx
#   docker run --rm -v "$PWD/data:/data" wganx augment --model models/mnist-cgan --per-class 100 --out /data/digits
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src src
# `npm ci` builds dist/ (the prepare script); onnxruntime-node's CPU provider is in the package, and
# its install script (the CUDA provider) is skipped: by package.json's allowScripts on npm 11, by the variable on npm 10.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

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
