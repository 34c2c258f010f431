// Command argocd-lua-health runs an ArgoCD resource health check the way ArgoCD's
// application controller runs a `resource.customizations.health.<group>_<kind>` script from
// argocd-cm: in gopher-lua (the version ArgoCD pins), with ArgoCD's reduced library set, the
// object as the global `obj`, and the returned table read back through gopher-json.
//
// Usage: argocd-lua-health SCRIPT.lua < OBJECT.json
//
// stdout: the health status as JSON, {"status":"...","message":"..."} (a field is left out when
// empty, as in ArgoCD's HealthStatus). A script error or a result ArgoCD rejects exits 1 with
// the error on stderr. Bad usage exits 2.
//
// What it mirrors, from argoproj/argo-cd v3.5.1 util/lua/lua.go (runLua, ExecuteHealthLua,
// decodeValue) and util/lua/oslib_safe.go:
//   - lua.NewState with SkipOpenLibs (argocd-cm scripts run without open libs unless
//     `resource.customizations.useOpenLibs.<group>_<kind>` is set; ours is not), then only the
//     package, base and table libraries. No string, math, io, os, debug or coroutine globals.
//   - `require("os")` gives a table with only os.time and os.date. ArgoCD's OpenSafeOs
//     registers them under the name of the already loaded table library, which is a no-op, so
//     the global `os` stays nil; only the preloaded module exists.
//   - a one-second execution limit.
//   - the object converted value by value: JSON objects become string-keyed tables, arrays
//     1-based sequences, null an absent key, every number a float64 LNumber. The controller
//     hands the script objects decoded by apimachinery (integers as int64, other numbers as
//     float64; ArgoCD turns both into LNumber), so numbers are decoded the same way here.
//   - the result: a table is encoded with gopher-json and decoded into {status, message}; a
//     type mismatch (e.g. a numeric message, or an empty table) gives an empty status; a status
//     outside ArgoCD's six codes gives Unknown with ArgoCD's message; nil gives an empty status;
//     any other type is an error.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

// healthStatus is ArgoCD's health.HealthStatus as JSON.
type healthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// validStatuses are the codes ArgoCD accepts from a script (isValidHealthStatusCode).
var validStatuses = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

const invalidHealthStatus = "Lua returned an invalid health status"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua-health SCRIPT.lua < OBJECT.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	obj, err := decodeObject(input)
	if err != nil {
		fail(fmt.Errorf("reading the object: %w", err))
	}
	status, err := executeHealth(obj, string(script))
	if err != nil {
		fail(err)
	}
	out, err := json.Marshal(status)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// decodeObject decodes JSON as apimachinery's unstructured decoder does: integers as int64,
// other numbers as float64.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("not a JSON object")
	}
	converted, err := convertNumbers(obj)
	if err != nil {
		return nil, err
	}
	return converted.(map[string]any), nil
}

func convertNumbers(value any) (any, error) {
	switch v := value.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		return v.Float64()
	case []any:
		for i := range v {
			c, err := convertNumbers(v[i])
			if err != nil {
				return nil, err
			}
			v[i] = c
		}
	case map[string]any:
		for k := range v {
			c, err := convertNumbers(v[k])
			if err != nil {
				return nil, err
			}
			v[k] = c
		}
	}
	return value, nil
}

func executeHealth(obj map[string]any, script string) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, fmt.Errorf("opening %s: %w", lib.name, err)
		}
	}
	safeOs := safeOsFunctions()
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(l.SetFuncs(l.NewTable(), safeOs))
		return 1
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))

	fn, err := l.LoadString(script)
	if err == nil {
		l.Push(fn)
		err = l.PCall(0, lua.MultRet, nil)
	}
	if err != nil {
		return healthStatus{}, err
	}

	result := l.Get(-1)
	switch result.Type() {
	case lua.LTTable:
		encoded, err := luajson.Encode(result)
		if err != nil {
			return healthStatus{}, err
		}
		var status healthStatus
		if err := json.Unmarshal(encoded, &status); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return healthStatus{}, nil
			}
			return healthStatus{}, err
		}
		if !validStatuses[status.Status] {
			return healthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
		}
		return status, nil
	case lua.LTNil:
		return healthStatus{}, nil
	}
	return healthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", result.Type())
}

// safeOsFunctions are os.time and os.date of gopher-lua's own os library (ArgoCD's safe os
// library is a copy of these two), taken from a scratch state that opened it.
func safeOsFunctions() map[string]lua.LGFunction {
	scratch := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer scratch.Close()
	if err := scratch.CallByParam(lua.P{Fn: scratch.NewFunction(lua.OpenOs), NRet: 0, Protect: true}, lua.LString(lua.OsLibName)); err != nil {
		panic(err)
	}
	osTable := scratch.GetGlobal(lua.OsLibName).(*lua.LTable)
	funcs := map[string]lua.LGFunction{}
	for _, name := range []string{"time", "date"} {
		funcs[name] = osTable.RawGetString(name).(*lua.LFunction).GFunction
	}
	return funcs
}

// toLua converts a decoded object as ArgoCD's decodeValue does.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	}
	return lua.LNil
}
