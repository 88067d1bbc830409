package nurserytree_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// debugFromEnv reports whether NURSERY_DEBUG turns debug mode on for every
// nursery, as nurserydebug reads it.
func debugFromEnv() bool {
	v := os.Getenv("NURSERY_DEBUG")
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

func noop(context.Context) error { return nil }

// nextLine returns the file and line after the caller's, as a site shows
// them.
func nextLine() string {
	_, file, line, _ := runtime.Caller(1)
	return filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file) + ":" + fmt.Sprint(line+1)
}
