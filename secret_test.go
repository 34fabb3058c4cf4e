package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretRedacts(t *testing.T) {
	t.Parallel()
	const value = "hunter2-s3cr3t"
	s := Secret(value)
	type form struct {
		User     string
		Password Secret
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("login", "password", s, "form", form{"bob", s}, slog.Any("ptr", &s))
	logger.Info("group", slog.Group("g", "secret", s))
	slog.New(slog.NewTextHandler(&buf, nil)).Info("text", "password", s)

	js, err := json.Marshal(form{"bob", s})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"slog": buf.String(), "json": string(js)}
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%10s", "%T"} {
		outputs[verb] = fmt.Sprintf(verb, s)
		outputs[verb+" struct"] = fmt.Sprintf(verb, form{"bob", s})
	}
	outputs["Sprint"] = fmt.Sprint(s) + fmt.Sprintln(s)
	outputs["error"] = fmt.Errorf("bad %v", s).Error()
	for name, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("%s: leaked the secret: %s", name, out)
		}
	}
	if !strings.Contains(buf.String(), `"password":"REDACTED"`) || !strings.Contains(string(js), `"Password":"REDACTED"`) {
		t.Errorf("got slog %s and json %s, want REDACTED values", buf.String(), js)
	}

	var back form
	if err := json.Unmarshal([]byte(`{"Password":"x"}`), &back); err != nil || string(back.Password) != "x" {
		t.Errorf("Unmarshal: got (%q, %v), want (x, nil)", string(back.Password), err)
	}
	if !s.Equal(Secret(value)) || s.Equal("hunter2") || string(s) != value {
		t.Errorf("Equal or conversion broken")
	}
}
