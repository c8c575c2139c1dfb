// Product fragment: announces add-to-cart on the page's event bus. It does
// not know who listens (the header's badge, the notifications).
(function () {
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-add-to-cart]");
    if (!btn) return;
    window.dispatchEvent(new CustomEvent("mfe:cart:add", {
      detail: { id: btn.dataset.id, title: btn.dataset.title, price: btn.dataset.price }
    }));
  });
})();
