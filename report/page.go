package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strings"

	"github.com/zabcheck/zabcheck/checker"
)

// embedded holds the page templates and their CSS and JS, compiled in so
// that a report renders, and serve answers, with nothing but the binary.
//
//go:embed templates/*.tmpl assets/*
var embedded embed.FS

// executePage renders templates/name with the helpers every page uses.
func executePage(name string, data any) ([]byte, error) {
	t, err := template.New(name).Funcs(template.FuncMap{
		"join":       strings.Join,
		"verdictCSS": verdictClass,
		"raw":        rawText,
		"frag":       fragment,
	}).ParseFS(embedded, "templates/"+name)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("execute template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// asset is an embedded CSS or JS file, inlined into pages so that a report
// opened from disk needs no other file.
func asset(name string) string {
	b, err := embedded.ReadFile("assets/" + name)
	if err != nil {
		// The assets are compiled in; a missing one is a build mistake.
		panic(fmt.Sprintf("report: embedded asset %s missing: %v", name, err))
	}
	return string(b)
}

func verdictClass(v checker.Verdict) string {
	switch v {
	case checker.Valid, checker.Invalid, checker.Unknown, Incomplete:
		return "v-" + string(v)
	}
	return "v-unknown"
}

// reportView is the data of report.html.tmpl.

// fragment links to the element with the given id. Ids of checks hold a
// "/" (workload/check), which a plain "#{{.ID}}" would percent-encode, and
// a fragment matches an id only as written.
func fragment(id string) template.URL {
	return template.URL("#" + id) // a same-page link: no scheme to smuggle, and the normalizer still escapes quotes
}
