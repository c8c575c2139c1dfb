// The components the fragments render, shared by the servers (Node) and
// the browsers' hydration (client.mjs files): each framework is passed in,
// so that one file serves both sides without a bundler.

// reactApp returns the React fragment's root component. load(slot)
// returns a promise of the text its Suspense boundary reveals; on the
// server it resolves after a delay, so that React streams the boundary
// and completes it with its inline scripts.
export function reactApp(React, load) {
  const h = React.createElement;
  function Slow({ slot }) {
    return h("p", { className: "react-revealed" }, React.use(load(slot)));
  }
  function Counter({ slot }) {
    const [n, setN] = React.useState(0);
    const id = React.useId();
    React.useEffect(() => {
      const w = globalThis;
      (w.compatReactHydrated ||= []).push(slot);
    }, [slot]);
    return h("button", { id, className: "react-count", onClick: () => setN(n + 1) }, "clicked " + n);
  }
  return function App({ slot }) {
    return h("section", { className: "react-fragment", "data-slot": slot },
      h(Counter, { slot }),
      h(React.Suspense, { fallback: h("p", { className: "react-loading" }, "Loading…") }, h(Slow, { slot })));
  };
}

// revealed is the text the Suspense boundary shows, on both sides.
export const revealed = (slot) => "React content of " + slot;

// vueApp makes the Vue fragment's app (createSSRApp on the server and in
// the browser alike); its ids take the slot as their prefix.
export function vueApp(Vue, slot) {
  const app = Vue.createSSRApp({
    setup() {
      const n = Vue.ref(0);
      const id = Vue.useId();
      Vue.onMounted(() => {
        (globalThis.compatVueMounted ||= []).push(slot);
      });
      return () => Vue.h("section", { class: "vue-fragment", "data-slot": slot }, [
        Vue.h("button", { id, class: "vue-count", onClick: () => n.value++ }, "clicked " + n.value),
      ]);
    },
  });
  app.config.idPrefix = slot;
  return app;
}
