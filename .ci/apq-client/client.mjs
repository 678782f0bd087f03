// Apollo Client's persisted-queries link against leadgraph, as a frontend
// would use it (run by tests/api/persisted.rs):
//   1. a query: hash alone (PersistedQueryNotFound), then hash + query;
//   2. the same query again: hash alone, answered;
//   3. the same query with useGETForHashedQueries: a GET with the hash alone;
//   4. a mutation: hash alone, then hash + query, as POST.
// Prints one JSON line {results, requests}: what each operation returned and
// every HTTP request the link made (method, whether it carried the query,
// status), for the test to check.
//
// LEADGRAPH_URL, LEADGRAPH_TOKEN; LEADGRAPH_ACCEPT overrides Apollo's default
// Accept (application/graphql-response+json,application/json;q=0.9).
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { createHash } from "node:crypto";

const url = process.env.LEADGRAPH_URL;
const token = process.env.LEADGRAPH_TOKEN;
const accept = process.env.LEADGRAPH_ACCEPT;
const requests = [];

async function recordingFetch(input, init = {}) {
  const target = new URL(typeof input === "string" ? input : input.url);
  const body = init.body ? JSON.parse(init.body) : null;
  const carriesQuery = target.searchParams.has("query") || typeof body?.query === "string";
  const response = await fetch(input, init);
  requests.push({ method: init.method ?? "GET", query: carriesQuery, status: response.status });
  return response;
}

function client(useGETForHashedQueries) {
  const headers = { authorization: `Bearer ${token}` };
  if (accept) headers.accept = accept;
  const sha256 = (text) => createHash("sha256").update(text).digest("hex");
  return new ApolloClient({
    link: ApolloLink.from([
      new PersistedQueryLink({ sha256, useGETForHashedQueries }),
      new HttpLink({ uri: url, headers, fetch: recordingFetch }),
    ]),
    cache: new InMemoryCache(),
    defaultOptions: { query: { fetchPolicy: "no-cache" } },
  });
}

const ME = gql`
  query ApqMe {
    me {
      role
    }
  }
`;
const CREATE = gql`
  mutation ApqCreate($email: String!) {
    createLead(input: { email: $email }) {
      email
    }
  }
`;

try {
  const post = client(false);
  const results = [];
  results.push((await post.query({ query: ME })).data);
  results.push((await post.query({ query: ME })).data);
  results.push((await client(true).query({ query: ME })).data);
  const created = await post.mutate({
    mutation: CREATE,
    variables: { email: "apollo-client@example.com" },
  });
  results.push(created.data);
  console.log(JSON.stringify({ results, requests }));
} catch (error) {
  console.log(JSON.stringify({ error: String(error), requests }));
  process.exitCode = 1;
}
