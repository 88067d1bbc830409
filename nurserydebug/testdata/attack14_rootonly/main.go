// Command attack14_rootonly links only package nursery: NURSERY_DEBUG=1
// must change nothing (no debug mode without nurserydebug).
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/structured-go/nursery"
)

func main() {
	n := nursery.New(context.Background(), nursery.PanicsAsErrors(), nursery.WithName("root"))
	n.Go(func(context.Context) error { panic("boom") })
	s, _, _ := strings.Cut(n.Wait().Error(), "\n\n")
	fmt.Println(s)
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(context.Context) error { return fmt.Errorf("plain") }, nursery.Name("t"))
		return nil
	})
	fmt.Println(err)
}
