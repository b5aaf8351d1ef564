package api

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// The README's routes table sits between these markers; `make docs`
// rewrites it from the contract, and a test fails when it is stale.
const (
	RoutesBegin = "<!-- routes:begin (generated from proto/ by `make docs`: edit the contract, not this table) -->"
	RoutesEnd   = "<!-- routes:end -->"
)

// RoutesTable is the Markdown table of every route and alias the contract
// declares, in declaration order.
func RoutesTable() (string, error) {
	ops, err := operations()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| Method | Path | Guard | Action | What |\n|---|---|---|---|---|\n")
	for _, o := range ops {
		var query []string
		for _, q := range o.query {
			if q.required {
				query = append(query, q.name+"=")
			}
		}
		action := o.action
		if action == "" {
			action = "–"
		}
		for _, p := range o.Paths() {
			path := p.GetPath()
			if len(query) > 0 {
				path += "?" + strings.Join(query, "&")
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", p.GetMethod(), path, guardText(o.Access), action,
				strings.ReplaceAll(o.Summary, "|", `\|`))
		}
	}
	return b.String(), nil
}

func guardText(a *apiv1.Access) string {
	switch a.GetScope() {
	case apiv1.Scope_SCOPE_PUBLIC:
		return "none"
	case apiv1.Scope_SCOPE_ROOT:
		return "root"
	case apiv1.Scope_SCOPE_ORG:
		return "org"
	case apiv1.Scope_SCOPE_OBJECT:
		return a.GetObject() + "'s org (core)"
	}
	return scopeText(a)
}

// SpliceRoutesTable returns readme with the text between the routes
// markers replaced by the current table.
func SpliceRoutesTable(readme []byte) ([]byte, error) {
	begin := bytes.Index(readme, []byte(RoutesBegin))
	end := bytes.Index(readme, []byte(RoutesEnd))
	if begin < 0 || end < begin {
		return nil, errors.New("README.md: no routes markers (" + RoutesBegin + " … " + RoutesEnd + ")")
	}
	table, err := RoutesTable()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(readme[:begin+len(RoutesBegin)])
	out.WriteString("\n" + table)
	out.Write(readme[end:])
	return out.Bytes(), nil
}
