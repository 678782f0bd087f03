// What a frontend on another origin does: a fetch with a bearer token (a
// CORS request with a preflight, since it sets Authorization) and a
// graphql-transport-ws subscription with the token in connection_init.
window.leadgraphClient = {
  connected: false,
  events: [],
  errors: [],

  async readLeads(url, token, query) {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query }),
    });
    const body = await response.json();
    return {
      status: response.status,
      requestId: response.headers.get('x-request-id'),
      errors: body.errors ?? null,
      emails: body.data ? body.data.leads.edges.map((edge) => edge.node.email) : [],
    };
  },

  subscribe(url, token) {
    const state = this;
    const client = graphqlWs.createClient({
      url,
      connectionParams: { Authorization: `Bearer ${token}` },
      on: {
        connected: () => {
          state.connected = true;
        },
      },
    });
    client.subscribe(
      { query: 'subscription { leadStageChanged { cursor from to lead { email } } }' },
      {
        next: (message) => {
          if (message.errors) state.errors.push(message.errors);
          if (message.data) state.events.push(message.data.leadStageChanged);
        },
        error: (err) => state.errors.push(String(err && (err.reason || err.message || err))),
        complete: () => {},
      },
    );
  },
};
