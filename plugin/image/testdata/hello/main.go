// Command hello stands in for pixie-agent in image tests.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() { fmt.Println("hello", strings.Join(os.Args[1:], " ")) }
