// A same-origin script: the website preset's CSP (script-src from
// default-src 'self') must let it run.
window.sameRan = true;
if (window.parent !== window) window.parent.postMessage('page-framed', '*');
