package ui

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"net/http"
)

// A UI form post must carry a CSRF token: the HMAC, under a key made when
// the UI starts, of a random value the browser keeps in an HttpOnly,
// SameSite=Strict cookie. A page of another site can make a browser post
// (and send the cookie, were it not Strict) but cannot read the token,
// which is only in the UI's own pages; binding it to the cookie keeps a
// token from one browser from passing in another. A restart makes a new
// key, so a page opened before it asks to be reloaded before it posts.
const (
	// csrfCookie keeps the browser's random value.
	csrfCookie = "loom_csrf"
	// CSRFField is the form field that carries the token.
	CSRFField = "csrf_token"
	// CSRFHeader carries the token of a script's request (htmx's).
	CSRFHeader = "X-CSRF-Token"
)

// csrf holds the UI's token key and the mark templates print where the
// request's token goes.
type csrf struct {
	key  []byte
	mark []byte
}

func newCSRF() csrf {
	key := make([]byte, 32)
	m := make([]byte, 16)
	_, _ = rand.Read(key)
	_, _ = rand.Read(m)
	return csrf{key: key, mark: []byte("csrf-mark-" + hex.EncodeToString(m))}
}

// funcs are the templates' functions for the token: csrfField, a hidden
// input for a form, and csrfToken, the bare token (for the page's meta
// tag, from which app.js adds it to htmx requests). Templates are parsed
// once, so they print the mark, which render replaces with the request's
// token.
func (c csrf) funcs() template.FuncMap {
	field := template.HTML(`<input type="hidden" name="` + CSRFField + `" value="` + string(c.mark) + `">`)
	return template.FuncMap{
		"csrfField": func() template.HTML { return field },
		"csrfToken": func() string { return string(c.mark) },
	}
}

// token is the token of a cookie value.
func (c csrf) token(value string) string {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte("loom-ui-csrf\x00" + value))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// cookieValue returns the browser's value, or makes one and sets it on w.
func (u *UI) cookieValue(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validCookieValue(c.Value) {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name:     csrfCookie,
		Value:    v,
		Path:     u.cfg.BasePath + "/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return v
}

// validCookieValue accepts what cookieValue makes: 32 random bytes.
func validCookieValue(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// fillToken replaces the mark in a rendered page with the request's
// token, setting the cookie it is bound to when the browser has none.
func (u *UI) fillToken(w http.ResponseWriter, r *http.Request, page []byte) []byte {
	if !bytes.Contains(page, u.csrf.mark) {
		return page
	}
	return bytes.ReplaceAll(page, u.csrf.mark, []byte(u.csrf.token(u.cookieValue(w, r))))
}

// validCSRF reports whether a post carries the token of its cookie, in
// the X-CSRF-Token header or the csrf_token form field.
func (u *UI) validCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validCookieValue(c.Value) {
		return false
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		// ParseForm reads url-encoded bodies only, at most 10 MB; the
		// handlers read the form it parsed.
		if err := r.ParseForm(); err != nil {
			return false
		}
		got = r.PostForm.Get(CSRFField)
	}
	return got != "" && hmac.Equal([]byte(got), []byte(u.csrf.token(c.Value)))
}
