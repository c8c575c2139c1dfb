// Notifications fragment: client-side only. Shows a toast for add-to-cart
// and for any fragment's mfe:notify event.
(function () {
  function toast(text, strong) {
    var box = document.querySelector("[data-toasts]");
    if (!box) return;
    var t = document.createElement("div");
    t.className = "toast";
    t.setAttribute("data-toast", "");
    if (strong) {
      var s = document.createElement("strong");
      s.textContent = strong;
      t.append(s, document.createTextNode(" " + text));
    } else {
      t.textContent = text;
    }
    box.append(t);
    setTimeout(function () { t.remove(); }, 4000);
  }
  window.addEventListener("mfe:cart:add", function (e) {
    var d = e.detail || {};
    toast("is in your cart.", d.title || "The book");
  });
  window.addEventListener("mfe:notify", function (e) {
    if (e.detail && e.detail.message) toast(e.detail.message);
  });
})();
