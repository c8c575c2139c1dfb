// Header fragment: keeps the cart badge in step with add-to-cart events
// from any fragment on the page.
(function () {
  var KEY = "bookshop.cart.count";
  function badge() { return document.querySelector("[data-cart-count]"); }
  // The button is named "Cart 2 items" (the unit is visually hidden).
  function setCount(b, n) {
    b.textContent = String(n);
    var unit = document.querySelector("[data-cart-unit]");
    if (unit) unit.textContent = n === 1 ? " item" : " items";
  }
  function show(n) {
    var b = badge();
    if (!b) return;
    setCount(b, n);
    b.classList.remove("bump");
    void b.offsetWidth; // restart the animation
    b.classList.add("bump");
  }
  var count = 0;
  try { count = parseInt(sessionStorage.getItem(KEY) || "0", 10) || 0; } catch (e) {}
  if (count) { var b = badge(); if (b) setCount(b, count); }
  // The demo has no checkout: the cart button says what is in the cart,
  // through the notifications fragment (mfe:notify).
  var cart = document.querySelector("[data-cart]");
  if (cart) cart.addEventListener("click", function () {
    var text = count === 0 ? "Your cart is empty." : "Your cart holds " + count + (count === 1 ? " book" : " books") + ". This demo has no checkout.";
    window.dispatchEvent(new CustomEvent("mfe:notify", { detail: { message: text } }));
  });
  window.addEventListener("mfe:cart:add", function () {
    count += 1;
    try { sessionStorage.setItem(KEY, String(count)); } catch (e) {}
    show(count);
  });
})();
