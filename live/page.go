package live

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
)

//go:embed page/index.html page/live.css page/live.js
var pageFiles embed.FS

// pageData is what the page template is rendered with, once, at New.
type pageData struct {
	Mode       string
	RaceWindow string
	Demo       bool
	CSS        template.CSS
	JS         template.JS
}

// page is the rendered page and its Content-Security-Policy, which
// allows its own inline script and style (by hash) and requests to
// booker only: the page fetches nothing from anywhere else.
type page struct {
	html []byte
	csp  string
}

// renderPage renders the page for a mode, with or without the control
// that sends buyers.
func renderPage(d pageData) (page, error) {
	css, err := pageFiles.ReadFile("page/live.css")
	if err != nil {
		return page{}, fmt.Errorf("live: read page: %w", err)
	}
	js, err := pageFiles.ReadFile("page/live.js")
	if err != nil {
		return page{}, fmt.Errorf("live: read page: %w", err)
	}
	t, err := template.ParseFS(pageFiles, "page/index.html")
	if err != nil {
		return page{}, fmt.Errorf("live: parse page: %w", err)
	}
	d.CSS, d.JS = template.CSS(css), template.JS(js)
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return page{}, fmt.Errorf("live: render page: %w", err)
	}
	csp := fmt.Sprintf("default-src 'none'; connect-src 'self'; img-src 'self' data:; script-src '%s'; style-src '%s'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		hash(js), hash(css))
	return page{html: buf.Bytes(), csp: csp}, nil
}

// hash is a CSP source expression for an inline script or style.
func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// servePage handles GET /.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", s.page.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(s.page.html)
	}
}
