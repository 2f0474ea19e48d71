package builder

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/units"
)

// TestPostgresUIDFollowsImage: the database's secret, the backup scripts
// and the WAL spool are owned by one uid, the postgres user of the image
// the spec names — 999 in the Debian images, 70 in the Alpine ones.
func TestPostgresUIDFollowsImage(t *testing.T) {
	for image, uid := range map[string]string{
		"docker.io/library/postgres:17-bookworm": "999",
		"docker.io/library/postgres:17-alpine":   "70",
	} {
		t.Run(image, func(t *testing.T) {
			spec := bytes.Replace(DefaultSpec, []byte("image: docker.io/library/postgres:17.6-alpine"), []byte("image: "+image), 1)
			if bytes.Equal(spec, DefaultSpec) {
				t.Fatal("the default spec no longer names the postgres image this test replaces")
			}
			res, err := Render(Request{File: "clipper.yaml", Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			var pg units.Unit
			for _, u := range res.Units {
				if u.Name == "postgres.container" {
					pg = u
				}
			}
			if want := "target=/run/secrets/postgres-password,uid=" + uid + ","; !strings.Contains(pg.Contents, want) {
				t.Errorf("postgres.container lacks %q:\n%s", want, pg.Contents)
			}
			for _, want := range []string{`: "${KILN_PG_UID:=` + uid + `}"`, "d /var/lib/kiln/wal-archive 0750 " + uid + " " + uid + " -"} {
				if !bytes.Contains(res.Butane, []byte(want)) {
					t.Errorf("the backup does not use uid %s: no %q", uid, want)
				}
			}
		})
	}
}
