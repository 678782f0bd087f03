// Types for the documented operations (docs/operations/*.graphql), from the
// checked-in schema: `npm run codegen` writes src/generated/graphql.ts.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema/schema.graphql",
  documents: "../../docs/operations/*.graphql",
  generates: {
    "src/generated/graphql.ts": {
      plugins: ["typescript", "typescript-operations"],
      config: {
        // How leadgraph's scalars travel in JSON.
        scalars: {
          DateTime: "string", // RFC 3339, UTC
          Date: "string", // YYYY-MM-DD
          Decimal: "string", // exact decimal, e.g. "1234.50": never a float
          JSON: "Record<string, unknown>", // interaction metadata: an object
          Upload: "File | Blob", // a multipart file part (importLeads; GraphQL multipart request spec)
        },
        strictScalars: true,
        enumsAsTypes: true,
        avoidOptionals: { field: true }, // result fields are `T | null`, never missing
        useTypeImports: true,
        skipTypename: true,
      },
    },
  },
};

export default config;
