package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The pages under docs/ name files and link to each other's sections; a
// file moved or a heading renamed without the page following it leaves a
// newcomer at a dead end. These tests read the pages as a reader would.

var (
	docCode    = regexp.MustCompile("`([^`\n]+)`")
	docLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	docHeading = regexp.MustCompile(`(?m)^#+ (.+)$`)
	// A repository path as the pages write it: a top-level directory of
	// ferry's, then a file or a directory.
	docPath = regexp.MustCompile(`^(accept|config|docs|engine|lab|nsx|probe|replication|scripts|session|steps|tlsconf|tui|vcd|vsphere)(/[\w.-]+)+$|^[\w-]+\.go$`)
)

func docPages(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no pages under docs/ (%v)", err)
	}
	pages := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pages[filepath.Base(f)] = string(b)
	}
	return pages
}

// anchor is the fragment GitHub gives a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocsNameFilesThatExist: every repository path a page names in code
// quotes (replication/wire.go, lab/vcdsim) exists, and so does every root
// file it names (main.go, run_cmd.go).
func TestDocsNameFilesThatExist(t *testing.T) {
	for page, text := range docPages(t) {
		for _, m := range docCode.FindAllStringSubmatch(text, -1) {
			p := strings.TrimSuffix(m[1], "/")
			if !docPath.MatchString(p) {
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("docs/%s names %s, which does not exist: update the page to where it lives now", page, p)
			}
		}
	}
}

// TestDocsLinksResolve: every link between the pages (and to files of the
// repository) reaches a page and a heading that exist.
func TestDocsLinksResolve(t *testing.T) {
	pages := docPages(t)
	anchors := map[string]map[string]bool{}
	for page, text := range pages {
		anchors[page] = map[string]bool{}
		for _, h := range docHeading.FindAllStringSubmatch(text, -1) {
			anchors[page][anchor(h[1])] = true
		}
	}
	for page, text := range pages {
		for _, m := range docLink.FindAllStringSubmatch(text, -1) {
			link := m[1]
			if strings.Contains(link, "://") {
				continue
			}
			file, frag, _ := strings.Cut(link, "#")
			if file == "" {
				file = page
			}
			if _, ok := pages[file]; !ok {
				if _, err := os.Stat(filepath.Join("docs", file)); err != nil {
					t.Errorf("docs/%s links to %s, which does not exist", page, link)
				}
				continue
			}
			if frag != "" && !anchors[file][frag] {
				t.Errorf("docs/%s links to %s: docs/%s has no heading with that anchor", page, link, file)
			}
		}
	}
}

// TestCodePointsAtDocsThatExist: comments and the README that cite a page
// of docs/ cite one that exists, and none cites the design notes that
// lived outside the repository (the repository's docs stand alone).
func TestCodePointsAtDocsThatExist(t *testing.T) {
	cite := regexp.MustCompile(`docs/[\w-]+\.md`)
	outside := regexp.MustCompile(`DESIGN\.md|shared/docs|vcsim-lab\.md`)
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if path == "docs_test.go" || (!strings.HasSuffix(path, ".go") && path != "README.md") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, c := range cite.FindAllString(string(b), -1) {
			if _, err := os.Stat(c); err != nil {
				t.Errorf("%s cites %s, which does not exist", path, c)
			}
		}
		if m := outside.FindString(string(b)); m != "" {
			t.Errorf("%s cites %s, outside the repository: point it at the page of docs/ that holds it", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
