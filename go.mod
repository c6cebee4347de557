module github.com/gnaudit/gnaudit

go 1.26
