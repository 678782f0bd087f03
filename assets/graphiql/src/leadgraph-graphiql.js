// GraphiQL as leadgraph serves it: every script is a file of this origin (the
// page's Content-Security-Policy allows no inline script), queries go to
// /graphql and subscriptions to /graphql/ws (graphql-transport-ws), both with
// the token pasted in the box above the editor.
(function () {
  'use strict';

  var TOKEN_KEY = 'leadgraph.token';
  var input = document.getElementById('leadgraph-token');
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));

  // Session storage: the token lives as long as the tab, never in a cookie.
  function storedToken() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function storeToken(token) {
    try {
      if (token) {
        window.sessionStorage.setItem(TOKEN_KEY, token);
      } else {
        window.sessionStorage.removeItem(TOKEN_KEY);
      }
    } catch (e) {
      // Storage refused (private mode): the token lasts until a reload.
    }
  }

  // A pasted "Bearer …" is taken as the token it carries.
  function cleanToken(value) {
    return value.trim().replace(/^bearer\s+/i, '');
  }

  var token = storedToken();
  input.value = token;

  function authorization() {
    return token ? 'Bearer ' + token : null;
  }

  // The HTTP fetcher's requests, with the token unless GraphiQL's own
  // headers tab already sets an Authorization.
  function fetchWithToken(url, options) {
    var init = Object.assign({}, options);
    var headers = new Headers(init.headers || {});
    var auth = authorization();
    if (auth && !headers.has('authorization')) {
      headers.set('authorization', auth);
    }
    init.headers = headers;
    return window.fetch(url, init);
  }

  function endpoint(path, websocket) {
    var url = new URL(path, window.location.href);
    if (websocket) {
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    }
    return url.toString();
  }

  var wsClient = null;
  var generation = 0;

  // (Re)mount GraphiQL: a new token means a new schema introspection and a
  // new WebSocket whose connection_init carries it.
  function mount() {
    if (wsClient) {
      wsClient.dispose();
    }
    wsClient = graphqlWs.createClient({
      url: endpoint('/graphql/ws', true),
      lazy: true,
      connectionParams: function () {
        var auth = authorization();
        return auth ? { Authorization: auth } : {};
      },
    });
    generation += 1;
    root.render(
      React.createElement(GraphiQL, {
        key: generation,
        fetcher: GraphiQL.createFetcher({
          url: endpoint('/graphql', false),
          fetch: fetchWithToken,
          wsClient: wsClient,
        }),
        defaultEditorToolsVisibility: true,
      })
    );
  }

  input.addEventListener('input', function () {
    token = cleanToken(input.value);
    storeToken(token);
  });
  input.addEventListener('change', mount);

  mount();
})();
