// Package nnops implements some operators that have both a pure go implementation and a cuda implementation
// to use the cuda version, assuming that you have the pre-requisites, simply compile or run the code with the `cuda tag`
//
//	go run -tags='cuda'
package nnops
