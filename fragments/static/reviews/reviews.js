// Reviews fragment: posts the form without leaving the page (the form also
// works without this script: the server redirects back).
(function () {
  function stars(n) { return "★★★★★".slice(0, n) + "☆☆☆☆☆".slice(0, 5 - n); }
  document.addEventListener("submit", function (e) {
    var form = e.target.closest && e.target.closest("[data-review-form]");
    if (!form) return;
    e.preventDefault();
    var status = form.querySelector("[data-review-status]");
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = "Posting…";
    fetch(form.action, {
      method: "POST",
      headers: { "Accept": "application/json" },
      body: new URLSearchParams(new FormData(form))
    }).then(function (res) {
      if (!res.ok) return res.text().then(function (t) { throw new Error(t.trim() || res.statusText); });
      return res.json();
    }).then(function (r) {
      var list = document.querySelector("[data-review-list]");
      var empty = list.querySelector(".review-empty");
      if (empty) empty.remove();
      var li = document.createElement("li");
      li.className = "review review-new";
      var p = document.createElement("p");
      p.className = "review-stars";
      var shown = document.createElement("span");
      shown.setAttribute("aria-hidden", "true");
      shown.textContent = stars(r.rating);
      var said = document.createElement("span");
      said.className = "visually-hidden";
      said.textContent = r.rating + " out of 5 stars";
      p.append(shown, said);
      var q = document.createElement("blockquote");
      q.className = "review-text";
      q.textContent = r.text;
      var by = document.createElement("p");
      by.className = "review-by";
      by.textContent = r.name + ", just now";
      li.append(p, q, by);
      list.prepend(li);
      form.reset();
      status.textContent = "Thank you! Your review is up.";
      window.dispatchEvent(new CustomEvent("mfe:notify", { detail: { message: "Review posted. Thank you, " + r.name + "!" } }));
    }).catch(function (err) {
      status.textContent = "Could not post: " + err.message;
    }).finally(function () { button.disabled = false; });
  });
})();
