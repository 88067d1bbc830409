package newbie14

import (
	"encoding/json"
	"testing"
)

// decodeTreeAges returns every "age" in a tree document (nurseries' and tasks').
func decodeTreeAges(t *testing.T, b []byte) []string {
	t.Helper()
	var d struct {
		Nurseries []struct {
			Age   string `json:"age"`
			Tasks []struct {
				Age string `json:"age"`
			} `json:"tasks"`
		} `json:"nurseries"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var ages []string
	for _, n := range d.Nurseries {
		ages = append(ages, n.Age)
		for _, k := range n.Tasks {
			ages = append(ages, k.Age)
		}
	}
	return ages
}
