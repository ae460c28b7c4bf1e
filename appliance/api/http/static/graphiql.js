"use strict";
// GraphiQL against this appliance's /graphql, with the session cookie (same origin).
const fetcher = GraphiQL.createFetcher({ url: new URL("/graphql", location.origin).href });
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true, inputValueDeprecation: true }),
);
