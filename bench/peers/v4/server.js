// PostGraphile 4 for leadgraph's bench: `node server.js PORT [WORKERS]`.
// WORKERS > 1 forks that many processes with node's cluster module, all
// accepting on the same port. Production settings: no GraphiQL, no watch,
// no query log, no mutations (the bench only reads), JSON as JSON.
"use strict";
const cluster = require("cluster");
const http = require("http");
const path = require("path");
const { postgraphile } = require("postgraphile");
const { makePgSmartTagsFromFilePlugin } = require("postgraphile/plugins");

const port = Number(process.argv[2] || 18095);
const workers = Number(process.argv[3] || 1);
const database =
  process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/leadgraph_bench";

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", (worker, code, signal) => {
    console.error(`worker ${worker.process.pid} exited (${signal || code})`);
    process.exitCode = 1;
  });
  const stop = () => {
    for (const id in cluster.workers) cluster.workers[id].kill();
    process.exit();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const middleware = postgraphile(database, "public", {
    graphiql: false,
    watchPg: false,
    disableQueryLog: true,
    disableDefaultMutations: true,
    dynamicJson: true,
    setofFunctionsContainNulls: false,
    ignoreRBAC: false,
    enableQueryBatching: false,
    showErrorStack: false,
    extendedErrors: [],
    retryOnInitFail: false,
    appendPlugins: [
      makePgSmartTagsFromFilePlugin(path.join(__dirname, "..", "postgraphile.tags.json5")),
    ],
  });
  http.createServer(middleware).listen(port, "127.0.0.1", () => {
    console.error(`postgraphile 4 (pid ${process.pid}) on http://127.0.0.1:${port}/graphql`);
  });
}
