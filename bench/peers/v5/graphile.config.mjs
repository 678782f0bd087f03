// PostGraphile 5 for leadgraph's bench: the Amber preset, read-only and
// without GraphiQL or watch (bench/peers/README.md).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { makePgSmartTagsFromFilePlugin } from "postgraphile/utils";
import { fileURLToPath } from "node:url";

const tags = fileURLToPath(new URL("../postgraphile.tags.json5", import.meta.url));

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  plugins: [makePgSmartTagsFromFilePlugin(tags)],
  disablePlugins: [
    // The bench only reads.
    "PgMutationCreatePlugin",
    "PgMutationUpdateDeletePlugin",
    // As PostGraphile 4 by default (ignoreIndexes): every column may order
    // (interaction.occurred_at is only the second column of its index).
    "PgIndexBehaviorsPlugin",
  ],
  pgServices: [
    makePgService({
      connectionString:
        process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/leadgraph_bench",
      schemas: ["public"],
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT || 18096),
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};

export default preset;
