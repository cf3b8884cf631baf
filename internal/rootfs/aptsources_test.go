package rootfs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseOneLineSources(t *testing.T) {
	data := `# comment
deb http://mirror.example/debian bookworm main contrib
deb-src http://mirror.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://vendor.example/apt cloud-sdk-bookworm main # trailing
   deb http://security.example/debian-security bookworm-security main

bogus line
`
	got := parseOneLineSources(data)
	want := []Source{
		{Type: "deb", URI: "http://mirror.example/debian", Suites: []string{"bookworm"}, Components: []string{"main", "contrib"}},
		{Type: "deb-src", URI: "http://mirror.example/debian", Suites: []string{"bookworm"}, Components: []string{"main"}},
		{Type: "deb", URI: "https://vendor.example/apt", Suites: []string{"cloud-sdk-bookworm"}, Components: []string{"main"}},
		{Type: "deb", URI: "http://security.example/debian-security", Suites: []string{"bookworm-security"}, Components: []string{"main"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseOneLineSources =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseDeb822Sources(t *testing.T) {
	data := `Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://a.example/debian
 http://b.example/debian
Suites: trixie
Components: main contrib

Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
`
	got := parseDeb822Sources(data)
	want := []Source{
		{Type: "deb", URI: "http://mirror.example/debian", Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}},
		{Type: "deb", URI: "http://a.example/debian", Suites: []string{"trixie"}, Components: []string{"main", "contrib"}},
		{Type: "deb", URI: "http://b.example/debian", Suites: []string{"trixie"}, Components: []string{"main", "contrib"}},
		{Type: "deb-src", URI: "http://a.example/debian", Suites: []string{"trixie"}, Components: []string{"main", "contrib"}},
		{Type: "deb-src", URI: "http://b.example/debian", Suites: []string{"trixie"}, Components: []string{"main", "contrib"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseDeb822Sources =\n%+v\nwant\n%+v", got, want)
	}
}

func TestPickMirror(t *testing.T) {
	cases := []struct {
		name    string
		sources []Source
		want    string
	}{
		{"skips vendor and security", []Source{
			{Type: "deb", URI: "https://deb.vendor.example/node", Suites: []string{"nodistro"}, Components: []string{"main"}},
			{Type: "deb", URI: "http://sec.example/debian-security", Suites: []string{"bookworm-security"}, Components: []string{"main"}},
			{Type: "deb-src", URI: "http://src.example/debian", Suites: []string{"bookworm"}, Components: []string{"main"}},
			{Type: "deb", URI: "http://mirror.example/debian/", Suites: []string{"bookworm-updates", "bookworm"}, Components: []string{"main"}},
		}, "http://mirror.example/debian"},
		{"needs main", []Source{
			{Type: "deb", URI: "http://x.example/debian", Suites: []string{"bookworm"}, Components: []string{"contrib"}},
		}, ""},
		{"none", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PickMirror(tc.sources)
			if got != tc.want || (tc.want == "") != (err != nil) {
				t.Fatalf("PickMirror = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestHostAptSources(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "etc", "apt", "sources.list.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(root, "etc", "apt", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sources.list.d/a-vendor.list", "deb https://vendor.example/apt nodistro main\n")
	write("sources.list.d/debian.sources", "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n")
	write("sources.list.d/old.list.disabled", "deb http://disabled.example/debian bookworm main\n")
	sources, err := HostAptSources(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 2 {
		t.Fatalf("HostAptSources read %d sources, want 2: %+v", len(sources), sources)
	}
	got, err := PickMirror(sources)
	if got != "http://mirror.example/debian" || err != nil {
		t.Fatalf("mirror = %q, %v", got, err)
	}
}
