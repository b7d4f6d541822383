// The language picker: a link in the menu bar to the same page in the other
// edition. English is at the root of the site, Korean under ko/.
(function () {
    "use strict";
    const editions = { en: "English", ko: "한국어" };
    const lang = document.documentElement.lang === "ko" ? "ko" : "en";
    const other = lang === "ko" ? "en" : "ko";
    // path_to_root is set by mdbook's page template ("" at the top, "../"
    // one folder down); "" alone would resolve to the page itself.
    const root = new URL(path_to_root || "./", window.location.href);
    const page = window.location.href.slice(root.href.length) || "index.html";
    const site = lang === "ko" ? new URL("../", root) : root;
    const target = new URL(other === "ko" ? "ko/" + page : page, site);

    const link = document.createElement("a");
    link.href = target.href;
    link.hreflang = other;
    link.lang = other;
    link.textContent = editions[other];
    link.title = other === "ko" ? "이 책의 한국어판" : "This book in English";
    link.className = "tincan-language";
    link.style.marginInline = "0.5em";
    link.style.fontSize = "1.4rem";
    const buttons = document.querySelector("#menu-bar .right-buttons");
    if (buttons) {
        buttons.prepend(link);
    }
})();
