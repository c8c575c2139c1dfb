// Header fragment: keeps the cart badge in step with add-to-cart events
// from any fragment on the page.
(function () {
  var KEY = "bookshop.cart.count";
  function badge() { return document.querySelector("[data-cart-count]"); }
  function show(n) {
    var b = badge();
    if (!b) return;
    b.textContent = String(n);
    b.classList.remove("bump");
    void b.offsetWidth; // restart the animation
    b.classList.add("bump");
  }
  var count = 0;
  try { count = parseInt(sessionStorage.getItem(KEY) || "0", 10) || 0; } catch (e) {}
  if (count) { var b = badge(); if (b) b.textContent = String(count); }
  window.addEventListener("mfe:cart:add", function () {
    count += 1;
    try { sessionStorage.setItem(KEY, String(count)); } catch (e) {}
    show(count);
  });
})();
