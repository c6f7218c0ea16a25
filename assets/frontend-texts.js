// Streamlit's own English texts (drop-downs, uploaders, the calendar, the connection dialog)
// in the page's language. Installed once per browser tab by uikit.frontend_texts(); a later
// run only swaps the dictionary. Texts are replaced where they appear, and again whenever
// Streamlit's frontend redraws them. Streamlit gives its calendar the browser's language
// (navigator.language): that is answered with the page's, so month and day names, the first
// day of the week and number formats follow the UI, not the browser.
(() => {
  const texts = __TEXTS__;
  const shim = window.__ljFrontendTexts;
  if (shim) {
    shim.set(texts);
    return;
  }
  let words = {};
  let patterns = [];
  let locale = navigator.language;
  Object.defineProperty(navigator, "language", { configurable: true, get: () => locale });
  const ATTRIBUTES = ["placeholder", "aria-label", "title"];
  const translated = (text) => {
    const core = text.trim();
    if (!core) return null;
    if (Object.prototype.hasOwnProperty.call(words, core)) return text.replace(core, words[core]);
    for (const [pattern, replacement] of patterns) {
      if (pattern.test(core)) return text.replace(core, core.replace(pattern, replacement));
    }
    return null;
  };
  const fixText = (node) => {
    const better = translated(node.nodeValue || "");
    if (better !== null && better !== node.nodeValue) node.nodeValue = better;
  };
  const fixElement = (element) => {
    for (const name of ATTRIBUTES) {
      const value = element.getAttribute(name);
      const better = value === null ? null : translated(value);
      if (better !== null && better !== value) element.setAttribute(name, better);
    }
  };
  const fixTree = (root) => {
    if (root.nodeType === Node.TEXT_NODE) return fixText(root);
    if (root.nodeType !== Node.ELEMENT_NODE) return;
    fixElement(root);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.nodeType === Node.TEXT_NODE) fixText(node);
      else fixElement(node);
    }
  };
  const observer = new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "characterData") fixText(change.target);
      else if (change.type === "attributes") fixElement(change.target);
      else change.addedNodes.forEach(fixTree);
    }
  });
  window.__ljFrontendTexts = {
    set(next) {
      words = next.words;
      locale = next.locale;
      patterns = next.patterns.map(([source, replacement]) => [new RegExp(source), replacement]);
      observer.disconnect();
      if (!Object.keys(words).length && !patterns.length) return; // English: nothing to do
      observer.observe(document.body, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
        attributeFilter: ATTRIBUTES,
      });
      fixTree(document.body);
    },
  };
  window.__ljFrontendTexts.set(texts);
})();
