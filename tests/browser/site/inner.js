window.parent.innerLoaded = true;
