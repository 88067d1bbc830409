//go:build !race

package nursery_test

const attack14bRace = false
