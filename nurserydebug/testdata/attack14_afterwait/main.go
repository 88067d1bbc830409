// Command attack14_afterwait links debug mode but not the live tree
// (no nurserytree): it prints the panic head of a nursery created from (context.WithoutCancel of) a
// debug-mode nursery's context after that nursery's Wait returned, once
// alone and once while another debug-mode nursery is open.
package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
)

func head(n *nursery.Nursery) string {
	n.Go(func(context.Context) error { panic("boom") })
	s, _, _ := strings.Cut(n.Wait().Error(), "\n\n")
	return s
}

func main() {
	a := nursery.New(context.Background(), nurserydebug.On(), nursery.WithName("a"))
	if err := a.Wait(); err != nil {
		panic(err)
	}
	fmt.Println("alone:", head(nursery.New(context.WithoutCancel(a.Context()), nursery.WithName("b"), nursery.PanicsAsErrors())))

	other := nursery.New(context.Background(), nurserydebug.On(), nursery.WithName("other"))
	fmt.Println("other open:", head(nursery.New(context.WithoutCancel(a.Context()), nursery.WithName("b"), nursery.PanicsAsErrors())))
	if err := other.Wait(); err != nil {
		panic(err)
	}
}
