// A frontend fetching the sales queue (docs/operations/sales-queue.graphql)
// with the generated types and plain `fetch`.
import type { SalesQueueQuery, SalesQueueQueryVariables } from "./src/generated/graphql";
import manifest from "../../docs/operations/manifest.json";

const salesQueue = manifest.operations.find((op) => op.name === "SalesQueue")!.body;

export async function fetchSalesQueue(
  token: string,
  variables: SalesQueueQueryVariables = { first: 20 },
): Promise<SalesQueueQuery["leads"]> {
  const response = await fetch("http://127.0.0.1:8080/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: salesQueue, operationName: "SalesQueue", variables }),
  });
  const { data, errors } = (await response.json()) as { data?: SalesQueueQuery; errors?: { message: string; extensions?: { code?: string } }[] };
  if (errors?.length || !data) throw new Error(errors?.map((e) => `${e.extensions?.code}: ${e.message}`).join("; "));
  return data.leads; // typed: edges[i].node.persona is { name: string } | null
}
