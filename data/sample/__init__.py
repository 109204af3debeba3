"""The bundled sample library, shipped inside the `rag` package as `rag.sample` (`papers ui --with-sample`)."""
